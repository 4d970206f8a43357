from biasbench.cli import run

run()
