"""Running untrusted code: probe what isolation works here, build the command, relay previews."""
