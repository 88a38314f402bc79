# SiteWatch — every target bootstraps what it needs on a fresh machine (you are root).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
MODEL ?= models/sitewatch.onnx
# make demo CLIP=/path/clip.mp4 (a camera of your own), ARGS="--seconds 60 --rtsp gate=rtsp://..."
CLIP ?=
ARGS ?=
export YOLO_OFFLINE := 1
# Debian packages: the MQTT broker; ffmpeg (segment ring, clips); GStreamer's RTSP server for
# the sample cameras (its Python bindings run under Debian's /usr/bin/python3); a font for
# Ultralytics and the PDF reports, with Droid Sans Fallback for their Chinese
SYSTEM_PACKAGES := mosquitto ffmpeg python3-gi gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad fonts-dejavu-core fonts-droid-fallback
# the tests also need chromium (the console's browser tests), PostgreSQL (the console's
# database tests; SQLite is the default database), and RabbitMQ and haproxy (the cluster tests:
# 3 broker nodes and 2 console replicas behind a proxy, on loopback)
TEST_PACKAGES := chromium postgresql rabbitmq-server haproxy

.PHONY: help demo demo-detect test lint typecheck unit suite train quantize bench clean venv system-deps \
	test-deps jscheck

help:
	@echo "make demo   - sample clips as RTSP cameras -> edge worker -> alerts over MQTT (see README)"
	@echo "make demo-detect - the detector alone over a clip: annotated video in out/demo/"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make unit   - the unit tests alone (seconds; no services)"
	@echo "make train  - retrain the detector from ../shared (slow on CPU)"
	@echo "make bench  - run the benchmarks in bench/"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "SiteWatch needs Python >= 3.11, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77'  # the venv's own 65 cannot read the SPDX license (wheel test)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

system-deps:
	@scripts/system-deps.sh $(SYSTEM_PACKAGES)

test-deps: system-deps
	@scripts/system-deps.sh $(TEST_PACKAGES)

# RTSP cameras from the sample clips, mosquitto, the edge worker; alerts printed (samples/demo.py)
demo: $(VENV)/.installed system-deps
	SITEWATCH_SHARED=$(SHARED) $(PY) samples/demo.py $(if $(CLIP),--clip "$(CLIP)") \
		$(if $(filter command line environment,$(origin MODEL)),--model "$(MODEL)") $(ARGS)

# the detector alone over one clip: an annotated video and frames in out/demo/
demo-detect: $(VENV)/.installed
	$(eval DETECT_CLIP := $(or $(CLIP),$(SHARED)/clips/factory_floor_cctv.mp4))
	@test -f "$(DETECT_CLIP)" || { echo "no clip at $(DETECT_CLIP): put ../shared beside the checkout or run 'make demo-detect CLIP=/path/to/clip.mp4'"; exit 2; }
	$(VENV)/bin/sitewatch detect --model $(MODEL) --out out/demo "$(DETECT_CLIP)"
	@echo "annotated video and frames are in out/demo/"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# tests by layer (tests/README.md): unit in seconds, no services; suite = every layer
unit: $(VENV)/.installed
	SITEWATCH_SHARED=$(SHARED) $(VENV)/bin/pytest -q tests/unit

suite: $(VENV)/.installed test-deps
	SITEWATCH_SHARED=$(SHARED) $(VENV)/bin/pytest -q

# the console's JavaScript type-checked: tsc, strict, on its JSDoc types (tools/js/tsconfig.json).
# npm ci puts the pinned TypeScript in tools/js/node_modules (git-ignored) when the lock changes;
# Debian's nodejs and npm are installed only where no npm is (a NodeSource node brings its own)
JS_TOOLS := tools/js
$(JS_TOOLS)/node_modules/.installed: $(JS_TOOLS)/package.json $(JS_TOOLS)/package-lock.json
	command -v npm >/dev/null || scripts/system-deps.sh nodejs npm
	cd $(JS_TOOLS) && npm ci --no-audit --no-fund
	touch $@

jscheck: $(JS_TOOLS)/node_modules/.installed
	$(JS_TOOLS)/node_modules/.bin/tsc -p $(JS_TOOLS)/tsconfig.json

test: lint typecheck jscheck suite

# The shipped model (models/README.md): one long stage 1, two stage-2 runs from it, their
# average (the 2026-11-22 model), then that average fine-tuned on every hard-hat photo
# (neuhardhat too, training/finetune.py) and averaged half and half with its fine-tune
# (WiSE-FT), then fine-tuned once more with the smokers' heads taught (`--smokers bare`, its
# epoch 3 averaged with its start, "The caps fine-tune"), then once more with zoomed-out
# frames (`--grids`, its epoch 3 averaged with its start, "The zoomed-out fine-tune"), its
# INT8 copy. On a GPU: TRAIN_DEVICE=0 TRAIN_WORKERS=5; on this 2-core CPU the first part takes
# about a day, each fine-tune 15-20 minutes an epoch.
TRAIN_DEVICE ?= cpu
TRAIN_WORKERS ?= 0
FINETUNE_EPOCHS ?= 4
TRAIN = SITEWATCH_SHARED=$(SHARED) $(PY) -m training.train --device $(TRAIN_DEVICE) \
	--workers $(TRAIN_WORKERS) --stage1-name s1long --epochs1 69 --no-export
train: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[train]'
	$(TRAIN) --batch 32 --stage2-name s1long_s2 --epochs2 94
	$(TRAIN) --batch 16 --stage2-name s2c --epochs2 59
	$(PY) -m training.soup build/runs/s1long_s2/weights/best.pt build/runs/s2c/weights/best.pt \
		--out build/base-fp32.onnx
	SITEWATCH_SHARED=$(SHARED) $(PY) -m training.finetune --source build/base-fp32.onnx \
		--device $(TRAIN_DEVICE) --workers $(TRAIN_WORKERS) --epochs $(FINETUNE_EPOCHS)
	$(PY) -m training.soup build/weights/base-fp32_unfolded.pt build/runs/neu/weights/last.pt \
		--weight 0.5 --pt build/soup/wise.pt
	$(PY) -m training.quantize
	SITEWATCH_SHARED=$(SHARED) $(PY) -m training.finetune --name caps --smokers bare \
		--neu-every 3 --epochs 5 --device $(TRAIN_DEVICE) --workers $(TRAIN_WORKERS)
	$(PY) -m training.soup build/weights/sitewatch-fp32_unfolded.pt \
		build/runs/caps/weights/epoch2.pt --weight 0.5 --pt build/soup/caps.pt \
		--out build/caps-fp32.onnx
	$(PY) -m training.quantize --model build/caps-fp32.onnx
	SITEWATCH_SHARED=$(SHARED) $(PY) -m training.finetune --name caps2 --smokers bare \
		--source build/caps-fp32.onnx --neu-every 3 --grids 200 --epochs 4 --lr0 0.0015 \
		--device $(TRAIN_DEVICE) --workers $(TRAIN_WORKERS)
	$(PY) -m training.soup build/weights/caps-fp32_unfolded.pt \
		build/runs/caps2/weights/epoch2.pt --weight 0.5 --pt build/soup/caps2.pt
	$(PY) -m training.quantize

bench: $(VENV)/.installed
	SITEWATCH_SHARED=$(SHARED) $(PY) -m bench.detector

clean:
	rm -rf $(VENV) build out .mypy_cache .ruff_cache .pytest_cache
