VENV ?= .venv
PY := $(VENV)/bin/python
VIDCLASS := $(VENV)/bin/vidclass
PYTHON ?= python3
BUILD ?= build

.PHONY: install test lint bench soak default-model clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check vidclass tests benchmarks
	$(VENV)/bin/ruff format --check vidclass tests benchmarks

# Side-by-side benchmarks (about 11 minutes on 2 idle cores, 1-2 more the first time, which
# generates the test clips into $(BUILD)/bench-clips); rewrites BENCHMARKS.md's results.
# `$(PY) benchmarks/bench.py --quick` is a smoke run of the same code (about 30 s).
bench: install
	mkdir -p $(BUILD)
	$(PY) benchmarks/bench.py --repeats 5 --build $(BUILD) --json $(BUILD)/bench.json --write BENCHMARKS.md

# A long predict batch of good and bad files: one record each, memory flat (see BENCHMARKS.md).
soak: install
	$(PY) benchmarks/soak.py --files 2000

# Reproduce the bundled model: generate the training set, train, measure the card.
default-model: install
	$(VIDCLASS) synth $(BUILD)/synth-train --per-class 120 --seed 1 --max-seconds 4 -q
	$(VIDCLASS) train $(BUILD)/synth-train -o $(BUILD)/default-run -m vivit-s64-tl8at1 \
		--epochs 45 -b 16 --lr 3e-4 --warmup-epochs 2 --drop-path 0.1 --no-randaugment --kernel-init difference --workers 1 --seed 0
	cp $(BUILD)/default-run/model.safetensors weights/default.safetensors
	$(PY) benchmarks/bundled_model.py --model weights/default.safetensors --max-seconds 4 --run $(BUILD)/default-run --out weights/default.json

clean:
	rm -rf $(VENV) $(BUILD) *.egg-info
