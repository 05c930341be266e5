"""moto's server application (moto[server]), to be served by the same uvicorn as Keyhouse."""

from moto.server import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
