def html(response) -> str:
    return response.content.decode()
