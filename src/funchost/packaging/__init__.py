"""`funchost pack`: an app folder as a zip package ready for run-from-package on Azure.

`files` decides what a package holds (Core Tools' walk and `.funcignore` rules, in
`funcignore`), `build` installs requirements.txt for `--build local`, `archive` writes the zip,
and `commands` is the command line. `pack.pack_app` is the whole operation, usable from Python.
"""
