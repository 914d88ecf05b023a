"""facewatchd: sorts incoming photos and videos into folders by who is in them."""

__version__ = "0.1.0"
