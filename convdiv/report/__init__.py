"""`convdiv report`: typed results from the SQL views, rendered through Jinja2 into one offline HTML file.

Flow (as ydata-profiling does it): ``data`` reads views into pandas, each ``sections/<name>.py`` computes a typed
:class:`~convdiv.report.model.Section` (figures, tables, CSVs, notes), ``build`` renders them with the templates and
inlines plotly.js once.
"""
