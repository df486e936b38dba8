from django.urls import path

from django_project.shop import views

urlpatterns = [
    path("orders/", views.place_order),
    path("orders/atomic/", views.place_order_atomic),
    path("results/<str:result_id>/", views.result_status),
]
