# beyond-averages: `make` reruns the whole compendium; `make test` runs the tests. `make help` lists every target.
# Every target is a real file except the verbs in .PHONY, so a second `make` with nothing changed does nothing.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory
# Independent steps (the areas' extracts and measures, the chapters) run two at a time, one per core: most are
# single-threaded. Output is grouped per step. `make JOBS=1` runs one step at a time.
JOBS ?= 2
MAKEFLAGS += --jobs=$(JOBS) --output-sync=target
# One BLAS/OpenMP thread per process: the parallelism is make's (and the process pools'), one process per core. Two
# processes each spinning two BLAS threads on two cores made matrix products 6 times slower, and a fixed thread count
# also keeps floating-point sums in the same order on every machine.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
# glibc's allocator hands every large array back to the kernel when it is freed and maps fresh zeroed pages for the
# next one: the generator and the measures allocate and free thousands of them, so a third of their CPU time went to
# the kernel. Keeping freed memory for reuse (arrays up to 32 MiB from the heap, never trimmed during a step) takes
# the system time of the hypertension generator from 3-4 s to 1 s, with the same peak memory and the same bytes.
export MALLOC_MMAP_THRESHOLD_ := 33554432
export MALLOC_TRIM_THRESHOLD_ := 4294967296
# Arrow allocates through that same allocator rather than its bundled mimalloc: reading the 4.3 million patients then
# costs 1.7 s of system time instead of 3.2 s in the study-population chapter, and its peak memory is 10% lower.
export ARROW_DEFAULT_MEMORY_POOL := system
.DEFAULT_GOAL := all

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
AREA   ?= hypertension_case_finding
AREAS  := $(basename $(notdir $(wildcard areas/*.yaml)))

# The extract: synthetic unless study.yaml's extract_dir points elsewhere (then it is read, never written).
EXTRACT   := $(shell sed -n 's/^extract_dir:[[:space:]]*\([^#[:space:]]*\).*/\1/p' study.yaml)
SYNTHETIC := data_synthetic/extract
MEASURES  := outputs/measures
EXECUTED  := reports/executed
PKG       := R_free_src/beyond_averages
CORE_SRC  := $(PKG)/__init__.py $(PKG)/config.py $(PKG)/months.py $(PKG)/deprivation.py $(PKG)/files.py \
             $(PKG)/parallel.py study.yaml
SYNTH_SRC := $(CORE_SRC) $(wildcard $(PKG)/synth/*.py) $(wildcard data_synthetic/calibration/*.csv)
MEAS_SRC  := $(CORE_SRC) $(wildcard $(PKG)/measures/*.py) $(PKG)/extract_check.py $(PKG)/cli.py
PKG_SRC   := $(shell find $(PKG) -name '*.py' -o -name '*.css' -o -name '*.html') study.yaml
PAPERMILL := $(PY) -m papermill --log-level WARNING --no-progress-bar --kernel python3

# The book shows one area at a time; this file changes only when AREA does, so switching areas reruns the
# area's chapters while a plain second `make` does nothing.
# It is rewritten only after the area file has validated, so an unknown area or a typo in an area file stops `make`
# before anything in outputs/ changes.
CURRENT_AREA := outputs/current_area.txt
ifeq ($(wildcard areas/$(AREA).yaml),)
$(error AREA=$(AREA): no file areas/$(AREA).yaml. Known areas: $(AREAS). A new area is one file: copy one of areas/*.yaml)
endif

AREA_CHAPTERS  := study_population its did beyond_deprivation continuous_outcome synthesis discussion brief abstract
BOOK_NOTEBOOKS := $(foreach c,$(AREA_CHAPTERS),$(EXECUTED)/$(c).ipynb)
AREA_PARAMS     = -p area $(AREA)  # the notebooks find the area's measures and programme files themselves
BOOK_PROSE     := index.qmd $(wildcard reports/*.qmd) reports/references.bib $(REVIEW_DATA) _quarto.yml \
                  $(wildcard reports/checklists/*.yaml)

.PHONY: all help venv data measures notebooks render test bench clean lock check-areas reference-data FORCE

all: render outputs/qualitative/framework_matrix.csv ## Rerun everything: environment, synthetic extract, measures, notebooks, book (reports/_book/index.html)

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  Variables: AREA=<area> (default hypertension_case_finding; one of: $(AREAS))"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (beyond-averages)" >/dev/null
	@touch $@

venv: $(STAMP) ## Create or update the virtual environment from the pinned requirements

# --- data: the synthetic extract (skipped when study.yaml points at a real extract) -------------------------------
ifeq ($(EXTRACT),$(SYNTHETIC))
$(EXTRACT)/patients.parquet: $(SYNTH_SRC) | $(STAMP)
	$(PY) -m beyond_averages population --out $(EXTRACT)

$(EXTRACT)/events_%.parquet: areas/%.yaml $(EXTRACT)/patients.parquet $(SYNTH_SRC) | $(STAMP)
	$(PY) -m beyond_averages area $* --out $(EXTRACT)
endif

data: $(EXTRACT)/events_$(AREA).parquet ## Generate the synthetic extract for AREA (data_synthetic/extract/)

# --- measures -------------------------------------------------------------------------------------------------
$(MEASURES)/%.parquet: $(EXTRACT)/events_%.parquet areas/%.yaml $(MEAS_SRC) | $(STAMP)
	$(PY) -m beyond_averages measures $* --extract $(EXTRACT) --out $(MEASURES)

measures: $(MEASURES)/$(AREA).parquet ## Monthly measures for AREA (outputs/measures/)

# --- notebooks: one papermill run per executed chapter ------------------------------------------------------------
# Chapters about one clinical area: rerun when the area, its measures, the notebook or the package change.
$(foreach c,$(AREA_CHAPTERS),$(EXECUTED)/$(c).ipynb): $(EXECUTED)/%.ipynb: notebooks/%.ipynb notebooks/params/%.yaml \
		$(MEASURES)/$(AREA).parquet $(CURRENT_AREA) $(PKG_SRC)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/$*.yaml $(AREA_PARAMS)
	@mv $@.tmp.ipynb $@

# FORCE runs this recipe on every `make`, but it rewrites the file (and so reruns the area's chapters) only when
# AREA changed and its file validates.
$(CURRENT_AREA): FORCE | $(STAMP)
	@[ "$$(cat $@ 2>/dev/null)" = "$(AREA)" ] || \
		{ $(PY) -m beyond_averages check-area $(AREA) >/dev/null && mkdir -p $(@D) && echo "$(AREA)" > $@; }

# The chapter by a further equity dimension counts its groups from the extract itself.
$(EXECUTED)/beyond_deprivation.ipynb: $(EXTRACT)/patients.parquet $(EXTRACT)/events_$(AREA).parquet

# The recovery study's appendix reads the tracked summary that `make bench` (bench/recovery_study.py) writes; a fork
# without it still builds the appendix, which then says how to run the study.
RECOVERY_SUMMARY := $(wildcard bench/recorded/recovery_study_summary.csv bench/recorded/its_design_study_summary.csv)
$(EXECUTED)/recovery_study.ipynb: notebooks/recovery_study.ipynb notebooks/params/recovery_study.yaml \
		$(RECOVERY_SUMMARY) $(PKG_SRC) | $(STAMP)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/recovery_study.yaml
	@mv $@.tmp.ipynb $@

# Chapters of the other strands: rerun when their input data, notebook or package change.
REVIEW_DATA := $(wildcard data_synthetic/review/*.csv data_synthetic/review/*.bib data_synthetic/review/*.yaml)
$(EXECUTED)/review.ipynb: notebooks/review.ipynb notebooks/params/review.yaml $(REVIEW_DATA) $(PKG_SRC) | $(STAMP)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/review.yaml
	@mv $@.tmp.ipynb $@

QUAL_DATA := $(wildcard data_synthetic/qualitative/*.csv data_synthetic/qualitative/*.yaml data_synthetic/qualitative/transcripts/*.txt)
$(EXECUTED)/qualitative.ipynb: notebooks/qualitative.ipynb notebooks/params/qualitative.yaml $(QUAL_DATA) $(PKG_SRC) \
		| $(STAMP)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/qualitative.yaml
	@mv $@.tmp.ipynb $@

# The framework matrix and other appendix files of the qualitative strand, for the thesis appendix.
outputs/qualitative/framework_matrix.csv: $(QUAL_DATA) $(PKG_SRC) | $(STAMP)
	$(PY) -m beyond_averages.qual data_synthetic/qualitative outputs/qualitative

# The synthesis, discussion and brief read the headline tables the ITS and DiD chapters leave in outputs/results/,
# and the review and qualitative inputs.
$(EXECUTED)/synthesis.ipynb $(EXECUTED)/discussion.ipynb $(EXECUTED)/brief.ipynb $(EXECUTED)/abstract.ipynb: \
		$(EXECUTED)/its.ipynb \
		$(EXECUTED)/did.ipynb $(REVIEW_DATA) $(QUAL_DATA) reports/joint_display.yaml

# The area-choice chapter sets every area side by side, so it needs every area's measures from the same extract
# (a real extract: the areas whose events it holds).
# Each area's events (and its programme file, written with them) are named here, so Make neither treats them as
# intermediate files to delete after the measures nor leaves a deleted one missing.
ifeq ($(EXTRACT),$(SYNTHETIC))
ALL_MEASURES := $(foreach a,$(AREAS),$(MEASURES)/$(a).parquet $(EXTRACT)/events_$(a).parquet)
else
ALL_MEASURES := $(foreach a,$(AREAS),$(if $(wildcard $(EXTRACT)/events_$(a).parquet),$(MEASURES)/$(a).parquet))
endif
$(EXECUTED)/area_overview.ipynb: notebooks/area_overview.ipynb notebooks/params/area_overview.yaml $(ALL_MEASURES) \
		$(PKG_SRC) | $(STAMP)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/area_overview.yaml
	@mv $@.tmp.ipynb $@

# The continuous-outcome chapter shows the book's area's outcome or, when it has none, another area's (HbA1c in
# diabetes care): it needs every area's measures.
$(EXECUTED)/continuous_outcome.ipynb: $(ALL_MEASURES)

PPIE_DATA := $(wildcard data_synthetic/ppie/*.csv data_synthetic/ppie/*.yaml)
$(EXECUTED)/ppie.ipynb: notebooks/ppie.ipynb notebooks/params/ppie.yaml $(PPIE_DATA) $(PKG_SRC) | $(STAMP)
	@mkdir -p $(EXECUTED)
	$(PAPERMILL) $< $@.tmp.ipynb -f notebooks/params/ppie.yaml
	@mv $@.tmp.ipynb $@

BOOK_NOTEBOOKS += $(EXECUTED)/review.ipynb $(EXECUTED)/qualitative.ipynb $(EXECUTED)/ppie.ipynb \
                  $(EXECUTED)/area_overview.ipynb $(EXECUTED)/recovery_study.ipynb

notebooks: $(BOOK_NOTEBOOKS) ## Execute the notebooks for AREA into reports/executed/

# --- the book -------------------------------------------------------------------------------------------------
# The title page of the book comes from study.yaml's `thesis:` block; _quarto.yml is rewritten only when it differs
# (a test keeps the committed file in step), and is precious: a failed rewrite never deletes it.
.PRECIOUS: _quarto.yml
_quarto.yml: study.yaml | $(STAMP)
	$(PY) -m beyond_averages book-metadata
	@touch $@

reports/_book/index.html: $(BOOK_NOTEBOOKS) $(BOOK_PROSE) $(PKG_SRC)
	$(PY) -m beyond_averages render

render: reports/_book/index.html ## Render the book to reports/_book/ (Quarto if installed, else the fallback renderer)

# --- checks ---------------------------------------------------------------------------------------------------
test: $(STAMP) ## Run the tests (includes every notebook end to end at small scale and the fallback render)
	$(PY) -m pytest

bench: $(STAMP) ## Benchmarks and simulation studies: timings, scale study, calibration, recovery (long: hours)
	$(PY) -m pip install -q -r requirements-bench.txt   # Spark (needs Java 17+) for the engine test
	$(PY) -m pytest -m slow -p no:cacheprovider -q -s
	$(PY) bench/run_bench.py

reference-data: $(STAMP) ## Download the third-party files of the known-answer tests into .reference-data/ (needs internet)
	$(PY) tests/reference.py download

check-areas: $(STAMP) ## Validate every areas/*.yaml
	$(PY) -m beyond_averages check-area

lock: ## Re-pin requirements.txt from requirements.in (needs the network)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned environment of the compendium (generated from requirements.in by \`make lock\`; Python 3.11)."; \
	  .lock-venv/bin/pip freeze --all | grep -v '^pip=='; } > requirements.txt
	rm -rf .lock-venv

clean: ## Remove generated data, measures, executed notebooks and the book (keeps .venv)
	rm -rf $(SYNTHETIC) outputs $(EXECUTED) reports/_book .quarto
