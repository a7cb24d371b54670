# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned: an unpinned torch (or a range admitting newer releases) pulls a
# multi-GB CUDA build. tf-keras without its dependencies: it would pull `tensorflow`
# on top of tensorflow-cpu.
TORCH_PIN := torch==2.13.0
TF_KERAS_PIN := tf-keras==2.21.0
# KerasHub, for its layers' tests, without its dependencies: it requires tensorflow-text, which pins another
# TensorFlow; the layers it tests import nothing of it.
KERAS_HUB_PIN := keras-hub==0.32.0
# Test processes (pytest-xdist): on 2 cores the suite takes about 8 minutes instead of 15. Each process imports
# TensorFlow (about 1.5 GB); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
# Keras writes keras.json on first import: a folder of the venv's, not one left in /tmp per run
KERAS_HOME_DIR := $(CURDIR)/$(VENV)/keras_home

.PHONY: demo test lint fixtures fuzz applications random-graphs clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[torch,keras,dev]'
	$(BIN)/pip install --quiet --no-deps $(TF_KERAS_PIN) $(KERAS_HUB_PIN)
	touch $@

demo: $(VENV)/.installed
	KERAS_HOME=$${KERAS_HOME:-$(KERAS_HOME_DIR)} KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
		$(BIN)/python examples/demo.py

test: $(VENV)/.installed
	KERAS_HOME=$${KERAS_HOME:-$(KERAS_HOME_DIR)} KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
		$(BIN)/python -m pytest -q -n $(TEST_WORKERS) tests

lint: $(VENV)/.installed
	$(BIN)/ruff check converter cli.py tests fuzz benchmarks examples sweeps
	$(BIN)/mypy

# Ten minutes of coverage-guided fuzzing of the readers and config checks (figures in SECURITY.md).
fuzz: $(VENV)/.installed
	$(BIN)/pip install --quiet 'atheris>=2.3'
	KERAS_HOME=$${KERAS_HOME:-$(KERAS_HOME_DIR)} KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
		$(BIN)/python fuzz/fuzz_readers.py --seconds $${SECONDS_TO_FUZZ:-600}

# Every keras.applications model: convert, build in both layouts, verify per layer (README table; ~15 min).
applications: $(VENV)/.installed
	KERAS_HOME=$${KERAS_HOME:-$(KERAS_HOME_DIR)} KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
		$(BIN)/python sweeps/applications.py --markdown

# The random-graph differential fuzzer's long run (README figures; ~15 min for 2,000 graphs).
random-graphs: $(VENV)/.installed
	KERAS_HOME=$${KERAS_HOME:-$(KERAS_HOME_DIR)} TF_CPP_MIN_LOG_LEVEL=3 \
		$(BIN)/python sweeps/random_graphs.py --count $${GRAPHS:-2000}

fixtures: $(VENV)/.installed
	$(BIN)/python fixtures/make_fixtures.py

clean:
	rm -rf $(VENV) out
