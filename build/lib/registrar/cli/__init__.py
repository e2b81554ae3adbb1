"""`registrar` on a terminal: the same logic as the Lambda (see the README's Command line)."""
