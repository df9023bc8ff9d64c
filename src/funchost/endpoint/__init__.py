"""The Azure Storage endpoint: Blob and Queue REST over funchost's embedded store.

Request parsing and the SharedKey/SAS checks (`auth`), the errors as Azure names them
(`errors`); the services' operations land here module by module.
"""
