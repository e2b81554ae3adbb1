"""One construct per concern of the registrar stack."""
