"""`funchost publish`: packages sent to a running `funchost serve`, unpacked into versions in
the app's state folder, checked beside the running version, and switched to."""
