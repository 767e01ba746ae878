"""The fixed cost of Prefect on this machine: one flow, one task, nothing else."""

from prefect import flow, task


@task
def one() -> int:
    return 1


@flow(name="trivial")
def trivial() -> int:
    return one()


if __name__ == "__main__":
    trivial()
