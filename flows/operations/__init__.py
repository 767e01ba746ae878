"""Running the product: the Prefect server it manages (`server`) and the HTML report
(`report`)."""
