# The two commands of the README. Both install what is missing first (idempotent).
.PHONY: demo test install bench neo4j-stop

demo:            ## install, then: generated city -> Neo4j -> detection -> the app
	bash scripts/install.sh
	.venv/bin/ringscope demo

test:            ## install (with the browser), then the whole test suite
	bash scripts/install.sh --browser
	bash scripts/test.sh

install:
	bash scripts/install.sh

neo4j-stop:
	.venv/bin/ringscope neo4j stop
