#!/bin/sh
# Installs PyTorch into the Python named by $1, as a laptop wants it.
# - Linux: the CPU build, from PyTorch's own CPU index (the default build there
#   is the CUDA one, several GB); where that index cannot be reached, the
#   package index pip is configured with, which may serve either build.
# - macOS and Windows: the package index's build (CPU, and Apple's GPU on Macs).
# TORCH chooses the requirement (default torch==2.13.0); TORCH_INDEX another
# index on Linux (e.g. https://download.pytorch.org/whl/cu124 for CUDA 12.4).
# Colab never runs this: it keeps the torch it ships with.
set -eu
python=$1
torch=${TORCH:-torch==2.13.0}
if [ "$(uname -s)" = Linux ]; then
  index=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
  if "$python" -m pip install --quiet --timeout 20 --retries 1 --index-url "$index" "$torch" 2>/dev/null; then
    exit 0
  fi
  echo "install-torch: $index could not be used; trying $torch from the default index" >&2
fi
exec "$python" -m pip install --quiet "$torch"
