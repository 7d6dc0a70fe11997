# sys.exit at import time.
sys.exit(3)
