# Everything runs inside ./.venv so a fresh machine needs nothing but Python 3.10+.
# torch is installed first and pinned to the local CPU build (torch==2.13.0 lies on this machine's disk);
# setup.cfg asks only for a range, which that build satisfies, so pip never pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
# Two levels: what running esrgan needs (install, demo), and the dev extra on top (tests, linters, the optional
# backends they cover: ~0.4 GB more). `make demo` on a fresh clone installs only the first.
# The spandrel version the tests run against, installed without its dependencies: it requires torchvision, which
# would pull a CUDA torch; the tests give spandrel a stand-in for the two torchvision functions it imports
# (tests/torchvision_standin.py), and its other dependencies come with the dev extra.
SPANDREL  ?= spandrel==0.4.2
STAMP     := $(VENV)/.stamp-install
DEV_STAMP := $(VENV)/.stamp-dev

.PHONY: install dev demo test test-slow test-ray lint format typecheck fuzz bench gpu-check clean

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps "$(SPANDREL)"
	touch $(DEV_STAMP)

# A stamp says only that an install once ran; packages can vanish from a venv since (a session found hypothesis
# and nncf gone, and the tests failing at import). The test targets check first and reinstall what is missing
# (both stamps: the base recipe pins torch before anything else is installed).
HEAL = @$(PY) -m tools.env_complete dev spandrel || { rm -f $(STAMP) $(DEV_STAMP); $(MAKE) --no-print-directory dev; }

install: $(STAMP)

dev: $(DEV_STAMP)

## Upscale a real photo (skimage's "chelsea") with the built-in default model.
demo: $(STAMP)
	mkdir -p outputs/demo
	$(PY) -c "import skimage.data, cv2; cv2.imwrite('outputs/demo/chelsea.png', skimage.data.chelsea()[:, :, ::-1])"
	$(VENV)/bin/esrgan upscale outputs/demo/chelsea.png -o outputs/demo/chelsea_x4.png
	@echo "demo: input outputs/demo/chelsea.png -> output $$(pwd)/outputs/demo/chelsea_x4.png"

test: $(DEV_STAMP)
	$(HEAL)
	$(PY) -m pytest -q

test-slow: $(DEV_STAMP)
	$(HEAL)
	$(PY) -m pytest -q -m slow

## Property-based tests as a longer campaign: FUZZ_EXAMPLES random examples per target (image probe, read_image,
## YAML reader and options, load_model of .pth, .safetensors and ncnn .param+.bin), seeded from valid files; prints
## examples run and failures per target. Failing examples are kept in .hypothesis/ and replayed first by the next run.
FUZZ_EXAMPLES ?= 5000
FUZZ_TARGETS  := tests/image/test_probe.py tests/image/test_io.py tests/test_safe_yaml.py \
	tests/models/test_model_files.py

fuzz: $(DEV_STAMP)
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) nice -n 10 $(PY) -m pytest -q -k property \
		--hypothesis-show-statistics $(FUZZ_TARGETS)

## The Ray tests (issue 17): Ray is an optional extra, not in dev (240 MB, ~10 s to install; each test module starts
## a Ray instance, ~7 s, and actors, ~5 s, on a 2-core machine). The scheduler itself is tested by `make test`.
test-ray: $(DEV_STAMP)
	$(PY) -m pip install -q -e ".[dev,ray]"
	$(PY) -m pytest -q -m ray

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check esrgan tests benchmarks datasets tools
	$(VENV)/bin/ruff check esrgan tests benchmarks datasets tools

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format esrgan tests benchmarks datasets tools
	$(VENV)/bin/ruff check --fix esrgan tests benchmarks datasets tools

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

bench: $(DEV_STAMP)
	$(PY) -m benchmarks.run

## Everything that needs CUDA, in one go (benchmarks/gpu_check.py), with the Python that has CUDA torch:
## `make gpu-check` (or GPU_PYTHON=... WHEELS=dir-of-wheels for a machine without a package index).
GPU_PYTHON ?= python3
GPU_CHECK_OUT ?= outputs/gpu-check
gpu-check:
	$(GPU_PYTHON) -m benchmarks.gpu_check --out $(GPU_CHECK_OUT) $(if $(WHEELS),--wheels $(WHEELS))

clean:
	rm -rf $(VENV) outputs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
