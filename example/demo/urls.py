from counter import views
from django.urls import path

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("version/", views.version, name="version"),
    path("db/", views.db, name="db"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<uuid:token>/", views.task_result, name="task-result"),
    path("uploads/", views.upload, name="upload"),
]
