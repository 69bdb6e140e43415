"""The browser page (index.html, app.css, app.js) that ``pipeline serve`` serves: package data, no Python."""
