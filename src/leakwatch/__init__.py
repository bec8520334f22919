"""leakwatch: find South Korean personal data exposed or traded on foreign web pages."""

__version__ = "0.1.0"
