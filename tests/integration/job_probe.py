"""A job for the job runner's tests: prints what it sees, then exits as its argument says."""

import os
import sys
import time

print(f"argv={sys.argv[1:]} probe={os.environ.get('SLUICE_PROBE')} cwd={os.getcwd()} pid={os.getpid()}", flush=True)
if sys.argv[1] == "sleep":
    time.sleep(600)
if sys.argv[1] == "raise":
    raise RuntimeError("the probe broke")
sys.exit(int(sys.argv[1]))
