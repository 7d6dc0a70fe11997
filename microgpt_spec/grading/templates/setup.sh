#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image
# (choose an Ubuntu 22.04 or newer base image). It installs Python 3.11+ and microgpt-spec.
set -euo pipefail

apt-get update -q
apt-get install -y -q libseccomp2  # the grader's seccomp wall (see docs/grading.md)
apt-get install -y -q python3.12 python3.12-venv 2>/dev/null \
  || apt-get install -y -q python3.11 python3.11-venv 2>/dev/null \
  || apt-get install -y -q python3 python3-venv
PYTHON="$(command -v python3.12 || command -v python3.11 || command -v python3)"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "microgpt-spec needs Python 3.11 or newer"'

"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q {install}
# Check the installation now, not when the first student submits.
/autograder/venv/bin/microgpt-spec grade --help > /dev/null
