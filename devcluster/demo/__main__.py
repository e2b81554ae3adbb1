from devcluster.demo.scenario import main

raise SystemExit(main())
