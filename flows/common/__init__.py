"""What every room of `flows/` may use: files written whole (`atomic`), rows spilled to a
local file between stages (`spill`), processes kept lean (`lean`) and looked after
(`processes`). Imports nothing else of `flows/`."""
