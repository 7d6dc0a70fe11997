# An exception at import time.
def broken_helper():
    return {}["missing key"]


broken_helper()
