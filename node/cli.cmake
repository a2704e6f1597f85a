# Command-line tools: muster (staff CLI) and muster-ca (trust CA).
