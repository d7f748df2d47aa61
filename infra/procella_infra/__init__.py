"""The Pulumi program that provisions a production Procella Edge (see infra/README.md)."""
