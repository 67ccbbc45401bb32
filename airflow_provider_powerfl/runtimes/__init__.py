"""Where a party's Spark step runs: a local child process or a Kubernetes pod, one command for both."""
