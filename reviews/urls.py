"""Pages of the reviews app (campaigns, the review screen, results), mounted at the root
beside usecases.urls; use-case-scoped pages live under /usecases/<slug>/reviews/…"""

app_name = "reviews"
urlpatterns = []
