"""Source types; importing this package registers all of them."""
from telephone.sync.sources import m365  # noqa: F401
from telephone.sync.sources import salesforce  # noqa: F401
from telephone.sync.sources import sugarcrm  # noqa: F401
from telephone.sync.sources import exchange  # noqa: F401
