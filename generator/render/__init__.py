"""Render: the complete deployment model laid out through the Jinja2 templates (templates/), and
the rendered files written atomically.

emit.py holds the emitters every printed value goes through; context.py lays the model out as
template values; write.py puts files in place (both or neither).
"""
