# cni.node: the two commands of the README.
#   make demo   bring up the lab and run the main job on it
#   make test   every test suite (installs what it needs first)
# Both are safe to rerun.

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps lab demo demo-clean test sanity lint unit matrix integration molecule build-test bench clean ee ee-test pull-test

help:
	@echo "make demo    bring up the 3-node lab, apply the overlay profile, prove pod-to-pod traffic"
	@echo "make demo-clean  remove the demo lab"
	@echo "make test    run every test suite (sanity, lint, unit, matrix, integration, build, molecule)"
	@echo "make pull-test  the ansible-pull lab (molecule/pull), not part of make test"
	@echo "make ee      build the execution environment cni-node-ee:latest (ansible-builder, docker); make ee-test proves it"
	@echo "make bench   run the benchmarks, rewrite docs/performance.md (BENCH=\"vxlan profile\" a subset, BENCH_FULL=1 long loops)"

deps:
	bash hack/bootstrap.sh

lab: deps
	bash hack/dockerd.sh
	bash hack/lab-image.sh

demo: lab
	bash hack/demo.sh

demo-clean: deps
	bash -c 'source hack/lab-env.sh && molecule destroy -s overlay'

test: lab
	bash hack/test.sh

# Single suites (assume `make deps` / `make lab` ran).
sanity:
	bash hack/test.sh sanity
lint:
	bash hack/test.sh lint
unit:
	bash hack/test.sh unit
matrix:
	bash hack/test.sh matrix
integration:
	bash hack/test.sh integration
build-test:
	bash hack/test.sh build
molecule:
	bash hack/test.sh molecule

# Every benchmark of bench/ (as root), figures written into docs/performance.md;
# not part of make test. BENCH="vxlan profile" runs a subset, BENCH_FULL=1
# the long loops, BENCH_BEFORE=REF before/after side by side (bench/run_all.py --help).
bench: lab
	.venv/bin/python bench/run_all.py $(if $(BENCH),--only "$(BENCH)") $(if $(BENCH_FULL),--full) $(if $(BENCH_BEFORE),--before $(BENCH_BEFORE))

# The execution environment (docs/fleet.md, AWX / AAP): ansible-builder and
# docker build cni-node-ee:latest FROM the lab's locally built image;
# ee-test also runs ansible-runner inside it against lab nodes (molecule/ee).
ee: lab
	bash hack/ee.sh build
ee-test: lab
	bash hack/ee.sh test

# The ansible-pull lab (molecule/pull, docs/fleet.md): several full pulls per
# node, too long for make test on a 2-core machine; run it on its own.
pull-test: lab
	bash hack/molecule.sh pull

clean:
	rm -rf build tests/output .pytest_cache .hypothesis
