from tritonsmith.cli import main

raise SystemExit(main())
