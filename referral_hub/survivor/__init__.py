"""The survivor's own door: a private access code, who holds her data, withdrawal, erasure."""
