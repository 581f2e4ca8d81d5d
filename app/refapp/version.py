"""The app's version, served by GET /version (deploys set APP_VERSION)."""

VERSION = "0.1.0"
