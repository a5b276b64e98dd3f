#!/usr/bin/env bash
# Runs each Dockerfile's install steps into a temporary virtualenv, then
# checks what the image would hold. No Docker needed: the steps are the
# Dockerfile's own lines, read from it (ARG defaults, COPY into a scratch
# /app, every `RUN sh docker/install.sh ...`); other RUN lines (users,
# folders) are not pip steps and are left out.
#
#   docker/Dockerfile          no torch, no NVIDIA package; the worker, the
#                              producer and the CLI import and run
#   docker/Dockerfile.trainer  (TORCH_VARIANT=cpu, compose's default trainer)
#                              torch's CPU build, kept by `.[trainer]`; the
#                              trainer imports
#
# TORCH_VARIANT=cuda is not installed here (gigabytes, and no GPU to run it);
# tests/docker checks that compose's GPU trainer asks for it.
#
# PyTorch's CPU index cannot be reached from CI, so its URL is replaced by a
# local index holding the CPU build and its dependencies, fetched once by
# `pip download` from pip's configured sources (where the CPU wheel is cached
# on this project's machines). Set CHECK_TORCH_CPU_INDEX_URL to use another.
#
# Usage: docker/check-install.sh [worker|trainer]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/check-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "check-install: $*" >&2; exit 1; }

# COPY SRC... DEST, relative to /app (the only WORKDIR the steps may use).
copy_step() {
  local ctx=$1; shift
  local args=() word
  for word in "$@"; do [[ $word == --* ]] || args+=("$word"); done
  local dest=${args[-1]} src
  unset 'args[-1]'
  for src in "${args[@]}"; do
    if [[ -d $repo/$src ]]; then
      mkdir -p "$ctx/$dest" && cp -r "$repo/$src/." "$ctx/$dest"
    elif [[ $dest == */ ]]; then
      mkdir -p "$ctx/$dest" && cp "$repo/$src" "$ctx/$dest"
    else
      mkdir -p "$(dirname "$ctx/$dest")" && cp "$repo/$src" "$ctx/$dest"
    fi
  done
}

# Runs DOCKERFILE's steps into VENV; NAME=VALUE arguments override ARG defaults.
run_steps() {
  local dockerfile=$1 venv=$2; shift 2
  local ctx=$venv.app workdir="" line
  mkdir -p "$ctx"
  "$python" -m venv "$venv"
  (
    export PATH="$venv/bin:$PATH" VIRTUAL_ENV=$venv
    unset PYTHONPATH PIP_NO_CACHE_DIR
    # Bytecode changes nothing that is checked here, and compiling torch's is slow.
    export PIP_NO_COMPILE=1
    while IFS= read -r line; do
      case $line in
      "ARG "*=*)
        local arg=${line#ARG } override
        export "$arg"
        for override in "$@"; do
          [[ ${override%%=*} != "${arg%%=*}" ]] || export "$override"
        done
        ;;
      "WORKDIR "*) workdir=${line#WORKDIR } ;;
      "COPY "*)
        [[ $workdir == /app ]] || fail "$dockerfile: COPY outside WORKDIR /app"
        # shellcheck disable=SC2086
        copy_step "$ctx" ${line#COPY }
        ;;
      "RUN "*install.sh*)
        [[ $workdir == /app ]] || fail "$dockerfile: install step outside WORKDIR /app"
        [[ $line != *\\ ]] || fail "$dockerfile: keep install steps on one line"
        echo "check-install: $(basename "$dockerfile"): ${line#RUN }"
        (cd "$ctx" && sh -c "${line#RUN }") || fail "$dockerfile: '${line#RUN }' failed"
        ;;
      esac
    done <"$dockerfile"
  )
}

# A PEP 503 index with the CPU build of torch and its dependencies.
local_torch_index() {
  local version wheels=$work/torch-wheels index=$work/torch-index file project
  version=$(sed -n 's/^ARG TORCH_VERSION=//p' docker/Dockerfile.trainer)
  "$python" -m pip download -q --dest "$wheels" --only-binary=:all: "torch==$version+cpu" \
    || fail "no CPU build of torch $version to be had; set CHECK_TORCH_CPU_INDEX_URL"
  for file in "$wheels"/*.whl; do
    project=$(basename "$file" | cut -d- -f1 | tr 'A-Z_.' 'a-z--')
    mkdir -p "$index/$project"
    echo "<a href=\"file://$file\">$(basename "$file")</a>" >>"$index/$project/index.html"
  done
  echo "file://$index"
}

check_worker() {
  local venv=$work/worker
  run_steps docker/Dockerfile "$venv"
  cd "$work"  # import what was installed, not the checkout
  "$venv/bin/python" -m pip show torch >/dev/null 2>&1 && fail "the worker image has torch"
  "$venv/bin/python" -m pip list 2>/dev/null | grep -qi '^nvidia' && fail "the worker image has NVIDIA packages"
  "$venv/bin/python" -c 'import streams.worker.run, streams.devtools.produce, streams.forget, state' \
    || fail "the worker or the producer does not import without torch"
  "$venv/bin/interests" --help >/dev/null || fail "'interests --help' fails in the worker image"
  "$venv/bin/python" -m pip check || fail "the worker image's packages conflict"
  cd "$repo"
  echo "check-install: worker image: no torch; worker, producer and CLI import"
}

check_trainer() {
  local venv=$work/trainer index=${CHECK_TORCH_CPU_INDEX_URL:-}
  [[ -n $index ]] || index=$(local_torch_index)
  run_steps docker/Dockerfile.trainer "$venv" "TORCH_CPU_INDEX_URL=$index"
  cd "$work"
  "$venv/bin/python" -c '
import torch
assert torch.version.cuda is None and torch.__version__.endswith("+cpu"), torch.__version__
import streams.trainer.service
print("check-install: trainer image: torch", torch.__version__)
' || fail "the CPU trainer image lacks torch's CPU build or the trainer"
  "$venv/bin/python" -m pip check || fail "the trainer image's packages conflict"
  cd "$repo"
}

for image in "${@:-worker trainer}"; do
  for name in $image; do
    case $name in
    worker) check_worker ;;
    trainer) check_trainer ;;
    *) fail "unknown image '$name' (worker or trainer)" ;;
    esac
  done
done
echo "check-install: ok"
