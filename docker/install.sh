#!/bin/sh
# The images' pip steps, in one place: each Dockerfile RUNs this script, and
# docker/check-install.sh runs the same RUN lines into temporary virtualenvs.
#
#   install.sh torch            torch alone (its own image layer: large, rarely changes)
#                               TORCH_VARIANT=cpu: TORCH_VERSION from TORCH_CPU_INDEX_URL
#                               TORCH_VARIANT=cuda: TORCH_VERSION from pip's index (CUDA build)
#   install.sh project [EXTRA]  the project in the current directory, with an extra;
#                               without one (the worker) torch is never installed
set -eu

pip_install() { python -m pip install --no-warn-script-location "$@"; }
# Read from the package metadata: importing torch here would only be slow.
torch_version() { python -c "from importlib.metadata import version; print(version('torch'))"; }

case "${1:-}" in
torch)
  case "${TORCH_VARIANT:?TORCH_VARIANT must be cpu or cuda}" in
  cpu) pip_install --index-url "${TORCH_CPU_INDEX_URL:?}" "torch==${TORCH_VERSION:?}" ;;
  cuda) pip_install "torch==${TORCH_VERSION:?}" ;;
  *) echo "install.sh: TORCH_VARIANT must be cpu or cuda, not '$TORCH_VARIANT'" >&2; exit 2 ;;
  esac
  ;;
project)
  if [ -n "${2:-}" ]; then
    # torch is already here: the extra's range must keep it, never replace it.
    before=$(torch_version)
    pip_install ".[$2]"
    after=$(torch_version)
    [ "$before" = "$after" ] || { echo "install.sh: .[$2] replaced torch $before by $after" >&2; exit 1; }
  else
    pip_install .
    if torch_version >/dev/null 2>&1; then
      echo "install.sh: the worker image must not contain torch" >&2
      exit 1
    fi
  fi
  rm -rf build ./*.egg-info
  ;;
*)
  echo "usage: install.sh torch | install.sh project [EXTRA]" >&2
  exit 2
  ;;
esac
