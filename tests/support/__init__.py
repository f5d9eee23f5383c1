"""What the test folders share, one module per concern.

``web``: the Flask test client as a browser (CSRF tokens, reports, receipts, free ports);
``staff``: staff accounts and signing them in; ``evidence``: evidence files and stores;
``stats``: reports at chosen times for the dashboards; ``browser``, ``browser_fixtures``,
``reporter_flows``: Chromium through Playwright.
"""
