from registrar.cli.main import main

raise SystemExit(main())
