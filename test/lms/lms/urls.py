from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.views import StaffClaimTokenSerializer, frontend

urlpatterns = [
    path('api/token/', TokenObtainPairView.as_view(serializer_class=StaffClaimTokenSerializer)),
    path('api/token/refresh/', TokenRefreshView.as_view()),
    path('', frontend),
]
