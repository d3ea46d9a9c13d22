from anke.core.context import Actor
from anke.encryption.datakeys import open_for_reading


def html(response) -> str:
    return response.content.decode()


def read_back(model, pk):
    """The stored row with its encrypted fields readable (as the audited read path opens it)."""
    obj = model.objects.get(pk=pk)
    open_for_reading(Actor.system(), [obj])
    return obj


def opened(objects) -> list:
    """Rows of a queryset with their encrypted fields readable."""
    objects = list(objects)
    open_for_reading(Actor.system(), objects)
    return objects
