"""The deployment's configuration: one TOML file, validated at start-up."""
