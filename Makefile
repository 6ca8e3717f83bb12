# The two commands: `make run` (the shop on its embedded default) and `make test`.
.PHONY: run test bench bench-checkout stack lint messages lighthouse cluster cluster-stop

run:
	bash bin/run

test:
	bash bin/test

bench:
	bash bin/bench-goals

.PHONY: cluster-drill
cluster-drill:
	bash bin/cluster-drill

bench-checkout:
	bash bin/bench-checkout

stack:
	bash bin/stack

cluster:
	bash bin/cluster start

cluster-stop:
	bash bin/cluster stop

lighthouse:
	bash bin/lighthouse

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

messages:
	DEBUG=1 .venv/bin/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=var --no-obsolete
	DEBUG=1 .venv/bin/python manage.py compilemessages --ignore=.venv
