from funchost.cli import main

raise SystemExit(main())
