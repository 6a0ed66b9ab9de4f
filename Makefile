.PHONY: run test

# The whole API on 127.0.0.1:$(PORT) with an embedded store; SMS are printed.
run:
	cargo run --locked -p otp-local

# Installs and starts DynamoDB Local and moto, runs every check, stops them.
test:
	scripts/test.sh
