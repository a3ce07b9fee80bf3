# Two commands do all the set-up on a fresh machine:
#   make demo   build the graph, train, evaluate and recommend on the bundled sample
#   make test   run the test suite
# Both create the virtual environment .venv and install dualgnn into it on first use.

VENV   ?= .venv
PY     := $(VENV)/bin/python
DUALGNN := $(VENV)/bin/dualgnn
DEMO   ?= demo-output
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -c "import dualgnn"
	touch $(STAMP)

demo: $(STAMP)
	bash data/demo.sh $(DUALGNN) $(DEMO)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run.py --sizes 10k

clean:
	rm -rf $(VENV) $(DEMO)
