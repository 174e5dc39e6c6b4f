"""Source types; importing this package registers all of them."""
