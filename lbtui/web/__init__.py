"""``lbtui serve``: the dashboard in a web browser, one ``lbtui attach`` per tab.

    browser tab ──websocket──▶ door.py: the token, the Host and (websocket) Origin, else 403
                                ▼
                              server.py (aiohttp: the page, textual-serve's page script
                                │        and fonts, /ws; at most max_tabs)
                                ▼
                              session.py: one ``lbtui attach OUT`` process per tab, its pipes
                                │         ⇄ the websocket; ends it when the tab closes,
                                ▼         goes silent, or serve ends
                              driver.py (inside that attach): textual's web driver,
                                        with writes that never block the app
    page.html                 the page: nothing on it comes from off this machine

May import: the standard library, aiohttp, textual-serve's static files, ``lbtui.lifeline``;
``driver.py`` also textual. Nothing here imports the engine: a session only starts an attach.
"""
